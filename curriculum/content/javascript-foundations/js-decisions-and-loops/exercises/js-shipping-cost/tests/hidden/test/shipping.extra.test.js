import { expect } from "chai";
import { shippingCost, qualifiesForFreeShipping } from "../shipping.js";

describe("shipping, more cases", () => {
  it("prices a parcel of exactly one kilogram", () => {
    expect(shippingCost(1, false)).to.equal(5);
  });

  it("prices a parcel of exactly five kilograms", () => {
    expect(shippingCost(5, false)).to.equal(9);
  });

  it("prices a parcel just over five kilograms", () => {
    expect(shippingCost(5.2, false)).to.equal(11);
  });

  it("prices a heavy express parcel", () => {
    expect(shippingCost(7, true)).to.equal(26);
  });

  it("handles an order of exactly the free-shipping amount", () => {
    expect(qualifiesForFreeShipping(50)).to.equal(true);
  });
});
