const e = new Error('m');
Object.defineProperty(e, 'name', { get() { throw new Error('gotcha'); } });
Object.defineProperty(e, 'stack', { get() { throw new Error('gotcha'); } });
throw e;
