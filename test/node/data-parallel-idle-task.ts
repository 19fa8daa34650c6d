// A worker module that never calls dataParallelTask but keeps its thread
// alive: startDataParallel must give up after startTimeoutMs, not hang.
setInterval(() => {}, 1_000);

export const idle = true;
