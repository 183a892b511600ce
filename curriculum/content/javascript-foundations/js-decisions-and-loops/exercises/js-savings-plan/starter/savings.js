// Planning savings. Each function must RETURN its result.

export function weeksToGoal(goal, perWeek) {
  // TODO: count the weeks until the savings reach at least the goal (use a loop)
  return 0;
}

export function savingsTable(perWeek, weeks) {
  // TODO: one line per week, like "Week 1: 20", joined with "\n"
  return "";
}
