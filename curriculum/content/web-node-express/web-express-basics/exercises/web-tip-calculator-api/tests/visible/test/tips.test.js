import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("GET /tip", () => {
  it("works out the tip and the total", async () => {
    const res = await request(app).get("/tip?bill=48&percent=15");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ bill: 48, percent: 15, tip: 7.2, total: 55.2 });
  });

  it("uses 15 percent when no percent is given", async () => {
    const res = await request(app).get("/tip?bill=20");
    expect(res.body).to.deep.equal({ bill: 20, percent: 15, tip: 3, total: 23 });
  });

  it("refuses a bill that is not a number", async () => {
    const res = await request(app).get("/tip?bill=lots");
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "bill must be a number, 0 or more" });
  });
});

describe("GET /split/:total/:people", () => {
  it("rounds each share up to the next cent", async () => {
    const res = await request(app).get("/split/100/3");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ total: 100, people: 3, each: 33.34 });
  });

  it("splits an even bill exactly", async () => {
    const res = await request(app).get("/split/90/3");
    expect(res.body).to.deep.equal({ total: 90, people: 3, each: 30 });
  });

  it("refuses zero people", async () => {
    const res = await request(app).get("/split/90/0");
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "people must be a whole number, 1 or more" });
  });
});
