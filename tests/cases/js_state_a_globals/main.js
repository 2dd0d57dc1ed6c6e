globalThis.leaked = 'LEAK'; var leakedVar = 'LEAK'; Object.prototype.polluted = 'LEAK'; Array.prototype.map = () => 'LEAK'; JSON.stringify = () => 'LEAK'; console.log('set');
