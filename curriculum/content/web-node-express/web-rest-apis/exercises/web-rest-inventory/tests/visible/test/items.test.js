import { expect } from "chai";
import request from "supertest";
import { createApp } from "../app.js";

const INVALID = { error: "name must be text and quantity a whole number, 0 or more" };

describe("the stockroom API", () => {
  let app;
  beforeEach(() => {
    app = createApp();
  });

  it("lists all items", async () => {
    const res = await request(app).get("/items");
    expect(res.status).to.equal(200);
    expect(res.body).to.have.length(3);
  });

  it("shows one item", async () => {
    const res = await request(app).get("/items/2");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ id: 2, name: "Nails (box of 100)", quantity: 40 });
  });

  it("answers 404 for an item that does not exist", async () => {
    const res = await request(app).get("/items/9");
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: "No item with id 9" });
  });

  it("adds an item and answers 201", async () => {
    const res = await request(app).post("/items").send({ name: "Saw", quantity: 3 });
    expect(res.status).to.equal(201);
    expect(res.body).to.deep.equal({ id: 4, name: "Saw", quantity: 3 });
  });

  it("refuses an item without a name", async () => {
    const res = await request(app).post("/items").send({ quantity: 3 });
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal(INVALID);
  });

  it("changes an item with PUT", async () => {
    const res = await request(app).put("/items/1").send({ name: "Claw hammer", quantity: 8 });
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ id: 1, name: "Claw hammer", quantity: 8 });
    const after = await request(app).get("/items/1");
    expect(after.body).to.deep.equal({ id: 1, name: "Claw hammer", quantity: 8 });
  });

  it("deletes an item and answers 204", async () => {
    const res = await request(app).delete("/items/2");
    expect(res.status).to.equal(204);
    const after = await request(app).get("/items/2");
    expect(after.status).to.equal(404);
  });

  it("answers 404 when deleting an item that does not exist", async () => {
    const res = await request(app).delete("/items/9");
    expect(res.status).to.equal(404);
  });
});
