import { expect } from "chai";
import { stockValue, lowStock, findItem, restock } from "../inventory.js";

function sampleStock() {
  return [
    { name: "AA batteries", quantity: 40, price: 3.5 },
    { name: "Light bulbs", quantity: 4, price: 2.25 },
    { name: "Duct tape", quantity: 0, price: 6 },
  ];
}

describe("stock list, more cases", () => {
  it("values an empty stock list", () => {
    expect(stockValue([])).to.equal(0);
  });

  it("does not list a product whose quantity equals the threshold", () => {
    expect(lowStock(sampleStock(), 4)).to.deep.equal(["Duct tape"]);
  });

  it("finds a product typed with different capital letters", () => {
    expect(findItem(sampleStock(), "light BULBS")).to.deep.equal({ name: "Light bulbs", quantity: 4, price: 2.25 });
  });

  it("restocks a product typed with different capital letters", () => {
    const stock = sampleStock();
    expect(restock(stock, "aa batteries", 10)).to.equal(50);
    expect(stock[0].quantity).to.equal(50);
  });

  it("changes nothing when restocking an unknown product", () => {
    const stock = sampleStock();
    expect(restock(stock, "Hammer", 5)).to.equal(-1);
    expect(stock).to.deep.equal(sampleStock());
  });
});
