for (let i = 0; i < 1e7; i++) setTimeout(() => {}, 0);
