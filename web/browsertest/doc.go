// Package browsertest holds vaxbook's browser tests: citizen journeys (and
// the operator's) driven in a real headless Chromium against a whole node,
// with screenshots at phone and desktop sizes and axe-core accessibility
// checks at every step. The package has no code of its own outside tests;
// the reusable driver is package harness, and the test files share
// startNode (a demo node on a free port with a movable clock) and the
// browser started once in TestMain. See docs/pages.md.
package browsertest
