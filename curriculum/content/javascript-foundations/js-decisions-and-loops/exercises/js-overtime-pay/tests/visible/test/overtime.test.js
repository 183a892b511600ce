import { expect } from "chai";
import { weeklyPay, isFullTime, shiftType } from "../overtime.js";

describe("weeklyPay", () => {
  it("pays a normal 40-hour week at the normal rate", () => {
    expect(weeklyPay(40, 20)).to.equal(800);
  });

  it("pays hours over 40 at time and a half", () => {
    expect(weeklyPay(45, 20)).to.equal(950);
  });

  it("pays a short week at the normal rate", () => {
    expect(weeklyPay(10, 15)).to.equal(150);
  });
});

describe("isFullTime", () => {
  it("says 38 hours is full time", () => {
    expect(isFullTime(38)).to.equal(true);
  });

  it("says 20 hours is not full time", () => {
    expect(isFullTime(20)).to.equal(false);
  });
});

describe("shiftType", () => {
  it("calls a 6 o'clock start a morning shift", () => {
    expect(shiftType(6)).to.equal("morning");
  });

  it("calls a 14 o'clock start an afternoon shift", () => {
    expect(shiftType(14)).to.equal("afternoon");
  });

  it("calls a 22 o'clock start a night shift", () => {
    expect(shiftType(22)).to.equal("night");
  });
});
