import { expect } from "chai";
import { monthsToPayOff } from "../loan.js";

describe("monthsToPayOff", () => {
  it("takes 10 months to pay 1000 at 100 a month with no interest", () => {
    expect(monthsToPayOff(1000, 100, 0)).to.equal(10);
  });

  it("takes longer when there is interest", () => {
    expect(monthsToPayOff(1000, 100, 0.01)).to.equal(11);
  });

  it("takes one month when the payment is more than the loan", () => {
    expect(monthsToPayOff(100, 150, 0)).to.equal(1);
  });

  it("says -1 when the payment is too small to ever pay it off", () => {
    expect(monthsToPayOff(1000, 5, 0.01)).to.equal(-1);
  });
});
