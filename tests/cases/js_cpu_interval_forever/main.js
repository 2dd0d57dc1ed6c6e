setInterval(() => {}, 0);
