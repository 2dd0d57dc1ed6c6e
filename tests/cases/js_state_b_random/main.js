kv_set('first', String(Math.random())); kv_set('bytes', String(crypto.getRandomValues(new Uint32Array(2)))); console.log('stored');
