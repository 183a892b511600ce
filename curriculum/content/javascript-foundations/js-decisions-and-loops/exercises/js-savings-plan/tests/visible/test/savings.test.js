import { expect } from "chai";
import { weeksToGoal, savingsTable } from "../savings.js";

describe("weeksToGoal", () => {
  it("needs 8 weeks to save 300 at 40 a week", () => {
    expect(weeksToGoal(300, 40)).to.equal(8);
  });

  it("needs 4 weeks to save 100 at 25 a week", () => {
    expect(weeksToGoal(100, 25)).to.equal(4);
  });

  it("needs 1 week when one week of saving is enough", () => {
    expect(weeksToGoal(50, 80)).to.equal(1);
  });
});

describe("savingsTable", () => {
  it("shows three weeks of saving 20", () => {
    expect(savingsTable(20, 3)).to.equal("Week 1: 20\nWeek 2: 40\nWeek 3: 60");
  });

  it("shows a single week", () => {
    expect(savingsTable(75, 1)).to.equal("Week 1: 75");
  });
});
