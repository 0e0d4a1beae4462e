// cyclonedx.js validates CycloneDX JSON documents with the CycloneDX
// project's own validator (@cyclonedx/cyclonedx-library's JsonStrictValidator,
// the published JSON schema of the document's declared specVersion, via ajv).
// hack/setup.sh installs the library into .bakery/validators/node_modules.
//
// Usage: node cyclonedx.js FILE...
// Prints "FILE: valid (CycloneDX 1.x)" per file, or the errors, and exits 1
// when any file is invalid or unreadable.
'use strict'
const fs = require('fs')
const { Spec, Validation } = require('@cyclonedx/cyclonedx-library')

async function check (file) {
  const text = fs.readFileSync(file, 'utf8')
  const version = JSON.parse(text).specVersion
  if (!Object.values(Spec.Version).includes(version)) {
    throw new Error(`specVersion ${JSON.stringify(version)} is not one the library knows`)
  }
  const errors = await new Validation.JsonStrictValidator(version).validate(text)
  if (errors !== null) {
    throw new Error(JSON.stringify(errors, null, 1))
  }
  return version
}

(async () => {
  let failed = false
  for (const file of process.argv.slice(2)) {
    try {
      console.log(`${file}: valid (CycloneDX ${await check(file)})`)
    } catch (e) {
      failed = true
      console.log(`${file}: invalid: ${e.message}`)
    }
  }
  process.exit(failed || process.argv.length < 3 ? 1 : 0)
})()
