import { expect } from "chai";
import request from "supertest";
import { createApp } from "../app.js";

describe("the library catalogue, more cases", () => {
  let app;
  beforeEach(() => {
    app = createApp();
  });

  it("finds a new book by its id after adding it", async () => {
    await request(app).post("/books").send({ title: "Homegoing", author: "Yaa Gyasi" });
    const res = await request(app).get("/books/5");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ id: 5, title: "Homegoing", author: "Yaa Gyasi", year: null });
  });

  it("matches an author typed in lower case", async () => {
    const res = await request(app).get("/books?author=toni%20morrison");
    expect(res.body.map((b) => b.id)).to.deep.equal([2]);
  });

  it("answers 404 for an id that is not a number", async () => {
    const res = await request(app).get("/books/abc");
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: "No book with id abc" });
  });

  it("refuses a new book with an empty title", async () => {
    const res = await request(app).post("/books").send({ title: "", author: "Yaa Gyasi" });
    expect(res.status).to.equal(400);
  });

  it("refuses a POST with no body", async () => {
    const res = await request(app).post("/books");
    expect(res.status).to.equal(400);
  });

  it("gives two new books different ids", async () => {
    const first = await request(app).post("/books").send({ title: "Homegoing", author: "Yaa Gyasi" });
    const second = await request(app).post("/books").send({ title: "Americanah", author: "Chimamanda Ngozi Adichie" });
    expect([first.body.id, second.body.id]).to.deep.equal([5, 6]);
  });
});
