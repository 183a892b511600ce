import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("the bakery's web server", () => {
  it("welcomes visitors on the home page", async () => {
    const res = await request(app).get("/");
    expect(res.status).to.equal(200);
    expect(res.text).to.equal("Welcome to the Corner Bakery");
  });

  it("shows the opening hours on /hours", async () => {
    const res = await request(app).get("/hours");
    expect(res.status).to.equal(200);
    expect(res.text).to.equal("Open 7:00-15:00, Tuesday to Sunday");
  });

  it("answers plain text", async () => {
    const res = await request(app).get("/hours");
    expect(res.headers["content-type"]).to.match(/^text\/plain/);
  });

  it("says Not found with status 404 for a page it does not have", async () => {
    const res = await request(app).get("/prices");
    expect(res.status).to.equal(404);
    expect(res.text).to.equal("Not found");
  });
});
