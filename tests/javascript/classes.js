// Classes: inheritance, private fields, static members, getters, toString.
class Shape {
  static count = 0;
  #id;
  constructor(name) {
    this.name = name;
    this.#id = ++Shape.count;
  }
  get id() { return this.#id; }
  area() { return 0; }
  toString() { return `${this.name}#${this.#id} area=${this.area().toFixed(2)}`; }
}
class Circle extends Shape {
  constructor(r) { super('circle'); this.r = r; }
  area() { return Math.PI * this.r ** 2; }
}
class Square extends Shape {
  constructor(side) { super('square'); this.side = side; }
  area() { return this.side ** 2; }
  static unit() { return new Square(1); }
}
const shapes = [new Circle(1), new Square(3), Square.unit()];
for (const shape of shapes) console.log(String(shape), shape instanceof Shape, shape.id);
console.log(shapes[0], Shape.count, Object.getPrototypeOf(Circle) === Shape);
console.log(shapes.map((s) => s.constructor.name), typeof Shape, Circle.name);
class Temperature {
  static #instances = 0;
  constructor(c) { this.celsius = c; Temperature.#instances++; }
  get fahrenheit() { return this.celsius * 9 / 5 + 32; }
  set fahrenheit(f) { this.celsius = (f - 32) * 5 / 9; }
  static get instances() { return Temperature.#instances; }
}
const t = new Temperature(100);
t.fahrenheit = 50;
console.log(t.celsius, t.fahrenheit, Temperature.instances, t);
console.log(class {}, Shape, [Circle], { k: Square });
