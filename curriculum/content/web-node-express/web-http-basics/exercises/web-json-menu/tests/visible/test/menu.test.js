import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("the menu server", () => {
  it("sends the whole menu as JSON", async () => {
    const res = await request(app).get("/menu");
    expect(res.status).to.equal(200);
    expect(res.headers["content-type"]).to.match(/^application\/json/);
    expect(res.body).to.deep.equal([
      { name: "Bagel", price: 1.5 },
      { name: "Croissant", price: 2.25 },
      { name: "Sourdough loaf", price: 5.5 },
      { name: "Cinnamon roll", price: 3 },
    ]);
  });

  it("only sends items up to the max price", async () => {
    const res = await request(app).get("/menu?max=2.5");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal([
      { name: "Bagel", price: 1.5 },
      { name: "Croissant", price: 2.25 },
    ]);
  });

  it("sends the cheapest item", async () => {
    const res = await request(app).get("/menu/cheapest");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ name: "Bagel", price: 1.5 });
  });

  it("refuses a max that is not a number with status 400", async () => {
    const res = await request(app).get("/menu?max=cheap");
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "max must be a number" });
  });

  it("answers an unknown path with a JSON 404", async () => {
    const res = await request(app).get("/drinks");
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: "Not found" });
  });
});
