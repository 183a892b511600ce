import { expect } from "chai";
import { monthsToPayOff } from "../loan.js";

describe("loan payoff, more cases", () => {
  it("needs no months when nothing is owed", () => {
    expect(monthsToPayOff(0, 100, 0.01)).to.equal(0);
  });

  it("handles a payment exactly equal to the interest", () => {
    expect(monthsToPayOff(1000, 10, 0.01)).to.equal(-1);
  });

  it("works out a bigger loan with interest", () => {
    expect(monthsToPayOff(2400, 200, 0.01)).to.equal(13);
  });

  it("works out a higher interest rate", () => {
    expect(monthsToPayOff(1000, 100, 0.02)).to.equal(12);
  });
});
