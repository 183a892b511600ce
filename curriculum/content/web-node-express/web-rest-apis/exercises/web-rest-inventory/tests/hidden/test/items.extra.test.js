import { expect } from "chai";
import request from "supertest";
import { createApp } from "../app.js";

describe("the stockroom API, more cases", () => {
  let app;
  beforeEach(() => {
    app = createApp();
  });

  it("refuses a quantity written as text", async () => {
    const res = await request(app).post("/items").send({ name: "Saw", quantity: "3" });
    expect(res.status).to.equal(400);
  });

  it("refuses a negative quantity", async () => {
    const res = await request(app).post("/items").send({ name: "Saw", quantity: -1 });
    expect(res.status).to.equal(400);
  });

  it("answers 404 before checking the body when changing a missing item", async () => {
    const res = await request(app).put("/items/9").send({ name: "" });
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: "No item with id 9" });
  });

  it("refuses a change with a bad body and keeps the item as it was", async () => {
    const res = await request(app).put("/items/1").send({ name: "Hammer", quantity: 2.5 });
    expect(res.status).to.equal(400);
    const after = await request(app).get("/items/1");
    expect(after.body).to.deep.equal({ id: 1, name: "Hammer", quantity: 5 });
  });

  it("never reuses the id of a deleted item", async () => {
    await request(app).delete("/items/3");
    const res = await request(app).post("/items").send({ name: "Saw", quantity: 0 });
    expect(res.body).to.deep.equal({ id: 4, name: "Saw", quantity: 0 });
  });

  it("lists a new item after adding it", async () => {
    await request(app).post("/items").send({ name: "Saw", quantity: 3 });
    const res = await request(app).get("/items");
    expect(res.body.map((item) => item.name)).to.deep.equal(["Hammer", "Nails (box of 100)", "Paint brush", "Saw"]);
  });
});
