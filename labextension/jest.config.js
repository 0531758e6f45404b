/**
 * Unit tests of the model, request and formatting code: plain Node, no browser.
 * `jlpm test` (runs offline once node_modules exists).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  collectCoverageFrom: ['src/**/*.ts', '!src/__tests__/**', '!src/views/**', '!src/index.ts', '!src/icon.ts', '!src/notebook.ts']
};
