import { expect } from "chai";
import { totalHours, daysWorked, longestDay, payByDay } from "../schedule.js";

const week = { monday: 8, tuesday: 6, wednesday: 0, thursday: 9, friday: 7 };

describe("totalHours", () => {
  it("adds up the hours of the week", () => {
    expect(totalHours(week)).to.equal(30);
  });
});

describe("daysWorked", () => {
  it("counts the days with hours, not the days off", () => {
    expect(daysWorked(week)).to.equal(4);
  });
});

describe("longestDay", () => {
  it("names the day with the most hours", () => {
    expect(longestDay(week)).to.equal("thursday");
  });
});

describe("payByDay", () => {
  it("works out each day's pay", () => {
    expect(payByDay({ monday: 8, tuesday: 0 }, 15)).to.deep.equal({ monday: 120, tuesday: 0 });
  });
});
