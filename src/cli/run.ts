/** Process entry of the `tandem` binary: runs the CLI and sets the exit code. */
import { main } from './index.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`TANDEM_ERR_INTERNAL: ${(e as Error)?.message ?? e}\n`);
    process.exitCode = 2;
  },
);
