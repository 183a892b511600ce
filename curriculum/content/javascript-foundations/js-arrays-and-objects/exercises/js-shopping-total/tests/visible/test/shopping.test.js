import { expect } from "chai";
import { total, countOver, mostExpensive, withTax } from "../shopping.js";

describe("total", () => {
  it("adds up three prices", () => {
    expect(total([2.5, 4.25, 1.25])).to.equal(8);
  });

  it("costs nothing for an empty list", () => {
    expect(total([])).to.equal(0);
  });
});

describe("countOver", () => {
  it("counts the prices above the limit", () => {
    expect(countOver([2.5, 4.25, 1.25, 10], 3)).to.equal(2);
  });
});

describe("mostExpensive", () => {
  it("finds the highest price", () => {
    expect(mostExpensive([2.5, 4.25, 1.25])).to.equal(4.25);
  });
});

describe("withTax", () => {
  it("adds 10% tax to every price", () => {
    expect(withTax([10, 2.5], 0.1)).to.deep.equal([11, 2.75]);
  });
});
