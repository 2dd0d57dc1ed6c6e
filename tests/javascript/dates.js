// Date arithmetic on fixed dates (UTC), no clock and no locale involved.
const d = new Date(Date.UTC(2024, 0, 31, 12, 30, 0));
console.log(d.toISOString(), d.getTime(), d.getUTCDay());
const plusDays = (date, n) => new Date(date.getTime() + n * 86400000);
console.log(plusDays(d, 1).toISOString(), plusDays(d, 30).toISOString(), plusDays(d, -365).toISOString());
const nextMonth = new Date(d);
nextMonth.setUTCMonth(d.getUTCMonth() + 1);
console.log(nextMonth.toISOString());
const a = Date.UTC(2000, 0, 1);
const b = Date.UTC(2024, 11, 25);
console.log(Math.floor((b - a) / 86400000), 'days', new Date(b).toUTCString());
console.log(new Date('2024-03-10T10:00:00Z').valueOf(), Date.parse('2024-03-10T10:00:00.000Z'), new Date(NaN));
console.log(JSON.stringify({ when: d }), d, [d]);
const leap = (y) => new Date(Date.UTC(y, 1, 29)).getUTCMonth() === 1;
console.log([1900, 2000, 2023, 2024].map(leap));
