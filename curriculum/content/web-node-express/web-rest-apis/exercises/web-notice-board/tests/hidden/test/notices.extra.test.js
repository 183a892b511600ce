import { expect } from "chai";
import request from "supertest";
import { createApp } from "../app.js";

describe("the notice board, more cases", () => {
  let app;
  beforeEach(() => {
    app = createApp();
  });

  it("refuses a wrong staff key", async () => {
    const res = await request(app).post("/notices").set("X-Staff-Key", "OPEN-SESAME").send({ text: "Hello" });
    expect(res.status).to.equal(401);
  });

  it("does not add a notice when the key is missing", async () => {
    await request(app).post("/notices").send({ text: "Sneaky" });
    const res = await request(app).get("/notices");
    expect(res.body).to.have.length(2);
  });

  it("sends the no-cache header on refusals and 404s too", async () => {
    const refused = await request(app).post("/notices").send({ text: "Hello" });
    const missing = await request(app).get("/nowhere");
    expect(refused.headers["cache-control"]).to.equal("no-store");
    expect(missing.headers["cache-control"]).to.equal("no-store");
  });

  it("refuses a notice whose text is not text", async () => {
    const res = await request(app).post("/notices").set("X-Staff-Key", "open-sesame").send({ text: 42 });
    expect(res.status).to.equal(400);
  });

  it("shows a new notice in the list", async () => {
    await request(app).post("/notices").set("X-Staff-Key", "open-sesame").send({ text: "Pay day is Thursday" });
    const res = await request(app).get("/notices");
    expect(res.body[2]).to.deep.equal({ id: 3, text: "Pay day is Thursday" });
  });
});
