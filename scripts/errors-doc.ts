// Regenerates docs/errors.md from the catalogue in src/core/errors.ts: `node --import tsx scripts/errors-doc.ts`.
import { writeFileSync } from 'node:fs';
import { ErrorCodes } from '../src/core/errors.js';

let out =
  '# Error codes\n\nEvery error Tandem reports is one line, `TANDEM_ERR_<CODE>: message`, naming what is wrong (table, column, key, URL with its password replaced by `***`). The CLI exits with code 2. Messages never contain passwords, password hashes or row values of sensitive columns. The catalogue lives in `src/core/errors.ts`; this page is generated from it (`node --import tsx scripts/errors-doc.ts`).\n\n| code | meaning |\n|---|---|\n';
for (const [k, v] of Object.entries(ErrorCodes)) out += `| \`TANDEM_ERR_${k}\` | ${v} |\n`;
writeFileSync(new URL('../docs/errors.md', import.meta.url), out);
