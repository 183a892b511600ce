import { expect } from "chai";
import request from "supertest";
import { createApp } from "../app.js";

describe("the notice board", () => {
  let app;
  beforeEach(() => {
    app = createApp();
  });

  it("lets anyone read the notices", async () => {
    const res = await request(app).get("/notices");
    expect(res.status).to.equal(200);
    expect(res.body).to.have.length(2);
  });

  it("tells browsers not to cache the notices", async () => {
    const res = await request(app).get("/notices");
    expect(res.headers["cache-control"]).to.equal("no-store");
  });

  it("refuses a new notice without a staff key", async () => {
    const res = await request(app).post("/notices").send({ text: "Fire drill on Monday" });
    expect(res.status).to.equal(401);
    expect(res.body).to.deep.equal({ error: "A valid staff key is required" });
  });

  it("accepts a new notice with the staff key", async () => {
    const res = await request(app).post("/notices").set("X-Staff-Key", "open-sesame").send({ text: "Fire drill on Monday" });
    expect(res.status).to.equal(201);
    expect(res.body).to.deep.equal({ id: 3, text: "Fire drill on Monday" });
  });

  it("refuses a notice with no text", async () => {
    const res = await request(app).post("/notices").set("X-Staff-Key", "open-sesame").send({ text: "" });
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "text is required" });
  });

  it("answers unknown paths with a JSON 404", async () => {
    const res = await request(app).get("/rota");
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: "Not found" });
  });

  it("answers broken JSON with a 400", async () => {
    const res = await request(app)
      .post("/notices")
      .set("X-Staff-Key", "open-sesame")
      .set("Content-Type", "application/json")
      .send('{"text": ');
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "Invalid JSON" });
  });
});
