import { expect } from "chai";
import { shippingCost, qualifiesForFreeShipping } from "../shipping.js";

describe("shippingCost", () => {
  it("charges 5 for a light parcel", () => {
    expect(shippingCost(0.5, false)).to.equal(5);
  });

  it("charges 9 for a medium parcel", () => {
    expect(shippingCost(3, false)).to.equal(9);
  });

  it("adds 2 for each kilogram over 5", () => {
    expect(shippingCost(7, false)).to.equal(13);
  });

  it("doubles the price for express delivery", () => {
    expect(shippingCost(3, true)).to.equal(18);
  });
});

describe("qualifiesForFreeShipping", () => {
  it("gives free shipping on a big order", () => {
    expect(qualifiesForFreeShipping(60)).to.equal(true);
  });

  it("does not give free shipping on a small order", () => {
    expect(qualifiesForFreeShipping(20)).to.equal(false);
  });
});
