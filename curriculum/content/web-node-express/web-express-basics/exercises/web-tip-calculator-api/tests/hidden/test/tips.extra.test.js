import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("tips and splits, more cases", () => {
  it("refuses a request with no bill at all", async () => {
    const res = await request(app).get("/tip");
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "bill must be a number, 0 or more" });
  });

  it("refuses a negative percent", async () => {
    const res = await request(app).get("/tip?bill=30&percent=-5");
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "percent must be a number, 0 or more" });
  });

  it("rounds the tip to cents", async () => {
    const res = await request(app).get("/tip?bill=19.99&percent=18");
    expect(res.body).to.deep.equal({ bill: 19.99, percent: 18, tip: 3.6, total: 23.59 });
  });

  it("refuses a number of people that is not whole", async () => {
    const res = await request(app).get("/split/50/2.5");
    expect(res.status).to.equal(400);
  });

  it("refuses a total that is not a number", async () => {
    const res = await request(app).get("/split/lots/2");
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "total must be a number, 0 or more" });
  });

  it("refuses an empty bill value", async () => {
    const res = await request(app).get("/tip?bill=");
    expect(res.status).to.equal(400);
  });
});
