/**
 * Preloaded into a service (NODE_OPTIONS=--import, bundled by bench/shop-profile.ts) to profile
 * its main thread over exactly the benchmark's measured window: the first SIGUSR2 starts V8's
 * sampling profiler, the second stops it and writes `<pid>.cpuprofile` into
 * MESHKIT_CPU_PROFILE_DIR. `node --cpu-prof` would cover the whole life (start-up, warm-up, idle)
 * and is refused in NODE_OPTIONS.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env['MESHKIT_CPU_PROFILE_DIR'];
if (dir) {
  const session = new Session();
  session.connect();
  // --cpu-prof's default interval.
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.enable');
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.start');
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, result) => {
      if (err) throw err;
      const file = join(dir, `${process.pid}.cpuprofile`);
      // Written aside, then renamed: a reader never sees half a profile.
      writeFileSync(`${file}.part`, JSON.stringify(result.profile));
      renameSync(`${file}.part`, file);
    });
  });
}
