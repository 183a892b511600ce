import { expect } from "chai";
import { scaleAmount, cupsToMl, ingredientLine, minutesToText } from "../recipe.js";

describe("recipe helpers, more cases", () => {
  it("scales to a number of people that does not divide evenly", () => {
    expect(scaleAmount(1, 4, 6)).to.equal(1.5);
  });

  it("converts half a cup", () => {
    expect(cupsToMl(0.5)).to.equal(120);
  });

  it("shows a time shorter than an hour", () => {
    expect(minutesToText(45)).to.equal("0 h 45 min");
  });

  it("shows a time of whole hours", () => {
    expect(minutesToText(120)).to.equal("2 h 0 min");
  });
});
