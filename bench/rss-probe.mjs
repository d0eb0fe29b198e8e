// Loaded with --import into a benchmarked process: reports its peak RSS (KiB) on fd 3 at exit.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  try {
    writeSync(3, `${process.resourceUsage().maxRSS}\n`);
  } catch {
    /* no fd 3: not under the bench */
  }
});
