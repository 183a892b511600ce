import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("the bakery's web server, more cases", () => {
  it("answers a POST to a known path with 404", async () => {
    const res = await request(app).post("/hours");
    expect(res.status).to.equal(404);
  });

  it("answers a longer unknown path with 404 in plain text", async () => {
    const res = await request(app).get("/hours/monday");
    expect(res.status).to.equal(404);
    expect(res.headers["content-type"]).to.match(/^text\/plain/);
  });

  it("answers the home page in plain text", async () => {
    const res = await request(app).get("/");
    expect(res.headers["content-type"]).to.match(/^text\/plain/);
  });
});
