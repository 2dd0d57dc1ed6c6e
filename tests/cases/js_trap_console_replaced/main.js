console.log = null; globalThis.console = undefined; 1 + 1
