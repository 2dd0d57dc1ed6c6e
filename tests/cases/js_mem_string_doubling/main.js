let s = 'x'; for (;;) s = s + s + '';
console.log(s.length);
