/**
 * Ctrl-C (SIGINT), SIGTERM and SIGHUP all end a run the same way: `stop()` once, then exit
 * (130/143/129, as a shell reports a signal). A second signal while stopping is ignored, so an
 * impatient Ctrl-C cannot cut the cleanup short and leave namespaces or processes behind.
 */
const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

export function stopOnSignals(stop: () => Promise<void>, log: (line: string) => void = (line) => console.error(line)): void {
  let stopping = false;
  for (const signal of Object.keys(codes) as (keyof typeof codes)[]) {
    process.on(signal, () => {
      if (stopping) {
        log(`${signal} again: still cleaning up, please wait`);
        return;
      }
      stopping = true;
      log(`${signal}: stopping every pod and removing the pod network`);
      stop()
        .catch((error: unknown) => log(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => process.exit(codes[signal]));
    });
  }
}
