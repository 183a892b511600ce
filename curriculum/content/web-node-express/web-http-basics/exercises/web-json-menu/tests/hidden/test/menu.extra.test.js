import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("the menu server, more cases", () => {
  it("includes an item priced exactly at the max", async () => {
    const res = await request(app).get("/menu?max=3");
    expect(res.body.map((item) => item.name)).to.deep.equal(["Bagel", "Croissant", "Cinnamon roll"]);
  });

  it("sends an empty list when nothing is cheap enough", async () => {
    const res = await request(app).get("/menu?max=1");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal([]);
  });

  it("answers errors as JSON", async () => {
    const res = await request(app).get("/menu?max=cheap");
    expect(res.headers["content-type"]).to.match(/^application\/json/);
  });

  it("answers a DELETE on the menu with a 404", async () => {
    const res = await request(app).delete("/menu");
    expect(res.status).to.equal(404);
  });
});
