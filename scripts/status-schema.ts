/** Prints the JSON schema of the status model (src/runtime/status.ts), the one docs/status.md holds. */
import { statusJsonSchema } from '../src/runtime/status.js';

process.stdout.write(`${JSON.stringify(statusJsonSchema(), null, 2)}\n`);
