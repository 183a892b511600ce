import { expect } from "chai";
import { total, countOver, mostExpensive, withTax } from "../shopping.js";

describe("shopping list, more cases", () => {
  it("adds up everyday prices with cents", () => {
    expect(total([1.99, 2.49, 0.99])).to.be.closeTo(5.47, 0.001);
  });

  it("does not count a price equal to the limit", () => {
    expect(countOver([3, 3, 4], 3)).to.equal(1);
  });

  it("has no most expensive price in an empty list", () => {
    expect(mostExpensive([])).to.equal(undefined);
  });

  it("finds the highest price when it is last", () => {
    expect(mostExpensive([1, 2, 30])).to.equal(30);
  });

  it("rounds prices with tax to cents and leaves the original list alone", () => {
    const prices = [3.49, 0.89];
    expect(withTax(prices, 0.08)).to.deep.equal([3.77, 0.96]);
    expect(prices).to.deep.equal([3.49, 0.89]);
  });
});
