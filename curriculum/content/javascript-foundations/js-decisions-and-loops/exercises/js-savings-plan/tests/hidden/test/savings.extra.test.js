import { expect } from "chai";
import { weeksToGoal, savingsTable } from "../savings.js";

describe("savings plan, more cases", () => {
  it("needs no weeks when there is nothing to save", () => {
    expect(weeksToGoal(0, 40)).to.equal(0);
  });

  it("handles a goal that is reached exactly", () => {
    expect(weeksToGoal(120, 40)).to.equal(3);
  });

  it("shows a table for zero weeks", () => {
    expect(savingsTable(50, 0)).to.equal("");
  });

  it("shows a longer table", () => {
    expect(savingsTable(15, 5)).to.equal("Week 1: 15\nWeek 2: 30\nWeek 3: 45\nWeek 4: 60\nWeek 5: 75");
  });
});
