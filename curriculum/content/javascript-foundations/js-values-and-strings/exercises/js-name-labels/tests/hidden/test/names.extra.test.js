import { expect } from "chai";
import { fullName, initials, labelName, cleanUp } from "../names.js";

describe("names, more cases", () => {
  it("gives capital initials for names typed in lower case", () => {
    expect(initials("john", "smith")).to.equal("J.S.");
  });

  it("makes a label from lower-case names", () => {
    expect(labelName("aisha", "bello")).to.equal("BELLO, aisha");
  });

  it("joins a two-word last name", () => {
    expect(fullName("Luis", "de la Cruz")).to.equal("Luis de la Cruz");
  });

  it("leaves text without extra spaces as it is", () => {
    expect(cleanUp("Warehouse B")).to.equal("Warehouse B");
  });
});
