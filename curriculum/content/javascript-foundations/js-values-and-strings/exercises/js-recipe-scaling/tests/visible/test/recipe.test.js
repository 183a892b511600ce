import { expect } from "chai";
import { scaleAmount, cupsToMl, ingredientLine, minutesToText } from "../recipe.js";

describe("scaleAmount", () => {
  it("doubles the amount for twice the people", () => {
    expect(scaleAmount(2, 4, 8)).to.equal(4);
  });

  it("scales down for fewer people", () => {
    expect(scaleAmount(300, 6, 2)).to.equal(100);
  });
});

describe("cupsToMl", () => {
  it("turns 2 cups into millilitres", () => {
    expect(cupsToMl(2)).to.equal(480);
  });
});

describe("ingredientLine", () => {
  it("writes amount, unit and name with spaces", () => {
    expect(ingredientLine(2, "cups", "flour")).to.equal("2 cups flour");
  });

  it("keeps decimals in the amount", () => {
    expect(ingredientLine(1.5, "tsp", "salt")).to.equal("1.5 tsp salt");
  });
});

describe("minutesToText", () => {
  it("shows 90 minutes as hours and minutes", () => {
    expect(minutesToText(90)).to.equal("1 h 30 min");
  });

  it("shows a longer time", () => {
    expect(minutesToText(200)).to.equal("3 h 20 min");
  });
});
