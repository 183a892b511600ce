import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("the bakery with Express, more cases", () => {
  it("sends every item of the menu in order", async () => {
    const res = await request(app).get("/menu");
    expect(res.body.map((item) => item.name)).to.deep.equal(["Bagel", "Croissant", "Sourdough loaf", "Cinnamon roll"]);
  });

  it("does not answer a POST to the hours", async () => {
    const res = await request(app).post("/hours");
    expect(res.status).to.equal(404);
  });

  it("sends the contact details with a JSON content type", async () => {
    const res = await request(app).get("/contact");
    expect(res.headers["content-type"]).to.match(/^application\/json/);
  });
});
