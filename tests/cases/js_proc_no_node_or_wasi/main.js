console.log([typeof require, typeof process, typeof Deno, typeof Bun, typeof fetch, typeof WebAssembly, typeof XMLHttpRequest, typeof importScripts].join(' '))
