import { expect } from "chai";
import { stockValue, lowStock, findItem, restock } from "../inventory.js";

function sampleStock() {
  return [
    { name: "AA batteries", quantity: 40, price: 3.5 },
    { name: "Light bulbs", quantity: 4, price: 2.25 },
    { name: "Duct tape", quantity: 0, price: 6 },
  ];
}

describe("stockValue", () => {
  it("adds up quantity times price for every product", () => {
    expect(stockValue(sampleStock())).to.equal(149);
  });
});

describe("lowStock", () => {
  it("lists the names of products below the threshold", () => {
    expect(lowStock(sampleStock(), 5)).to.deep.equal(["Light bulbs", "Duct tape"]);
  });
});

describe("findItem", () => {
  it("finds a product by its exact name", () => {
    expect(findItem(sampleStock(), "Duct tape")).to.deep.equal({ name: "Duct tape", quantity: 0, price: 6 });
  });

  it("gives undefined for a product the shop does not have", () => {
    expect(findItem(sampleStock(), "Hammer")).to.equal(undefined);
  });
});

describe("restock", () => {
  it("adds a delivery to the stock list and returns the new quantity", () => {
    const stock = sampleStock();
    expect(restock(stock, "Duct tape", 12)).to.equal(12);
    expect(stock[2].quantity).to.equal(12);
  });
});
