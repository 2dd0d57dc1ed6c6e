Promise.prototype.then = function () { throw new Error('broken then'); };
await 1;
'survived'
