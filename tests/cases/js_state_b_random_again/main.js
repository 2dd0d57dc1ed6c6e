console.log(String(Math.random()) !== kv_get('first') ? 'differs' : 'SAME', String(crypto.getRandomValues(new Uint32Array(2))) !== kv_get('bytes') ? 'differs' : 'SAME');
