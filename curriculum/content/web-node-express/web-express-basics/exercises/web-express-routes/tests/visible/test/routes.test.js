import { expect } from "chai";
import request from "supertest";
import { app } from "../app.js";

describe("the bakery with Express", () => {
  it("welcomes visitors on the home page", async () => {
    const res = await request(app).get("/");
    expect(res.status).to.equal(200);
    expect(res.text).to.equal("Welcome to the Corner Bakery");
  });

  it("sends the opening hours as JSON", async () => {
    const res = await request(app).get("/hours");
    expect(res.status).to.equal(200);
    expect(res.headers["content-type"]).to.match(/^application\/json/);
    expect(res.body).to.deep.equal({
      open: "07:00",
      close: "15:00",
      days: ["Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    });
  });

  it("sends the menu as JSON", async () => {
    const res = await request(app).get("/menu");
    expect(res.status).to.equal(200);
    expect(res.body).to.have.length(4);
    expect(res.body[0]).to.deep.equal({ name: "Bagel", price: 1.5 });
  });

  it("sends the contact details as JSON", async () => {
    const res = await request(app).get("/contact");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ phone: "555-0142", address: "12 Main Street" });
  });

  it("answers 404 for a page the bakery does not have", async () => {
    const res = await request(app).get("/jobs");
    expect(res.status).to.equal(404);
  });
});
