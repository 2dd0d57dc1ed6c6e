throw new Error('bad \ud800 text');
